# An example environment: the buckets, the roles, the cluster (three
# coordinators, spot and on-demand GPU executor groups at zero) and the
# two Lambdas. Names are decided here once and handed to every module, so
# that the roles can name the log groups and executor groups they grant
# before those exist.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account = data.aws_caller_identity.current.account_id
  arn     = "arn:${data.aws_partition.current.partition}"

  log_groups = {
    lambda_schedule = "/aws/lambda/${var.name}-schedule"
    lambda_upload   = "/aws/lambda/${var.name}-upload"
    coordinator     = "/cz/${var.name}/coordinator"
    executor        = "/cz/${var.name}/executor"
  }
  executor_groups = {
    spot     = "${var.name}-executor-spot"
    ondemand = "${var.name}-executor-ondemand"
  }
  content_bucket = split("/", trimprefix(var.content_bucket_url, "s3://"))[0]
}

module "buckets" {
  source = "../../modules/buckets"

  name                 = var.name
  external_bucket_name = var.external_bucket_name
  internal_bucket_name = var.internal_bucket_name
}

module "iam" {
  source = "../../modules/iam"

  name                     = var.name
  external_bucket_arn      = module.buckets.external_bucket_arn
  internal_bucket_arn      = module.buckets.internal_bucket_arn
  content_bucket_arn       = "${local.arn}:s3:::${local.content_bucket}"
  executor_asg_arns        = [for g in local.executor_groups : "${local.arn}:autoscaling:${var.region}:${local.account}:autoScalingGroup:*:autoScalingGroupName/${g}"]
  log_group_arns           = { for k, g in local.log_groups : k => "${local.arn}:logs:${var.region}:${local.account}:log-group:${g}" }
  cluster_secret_arn       = var.cluster_secret_arn
  external_team_principals = var.external_team_principals
}

module "cluster" {
  source = "../../modules/cluster"

  name                      = var.name
  vpc_id                    = var.vpc_id
  subnet_ids                = var.subnet_ids
  coordinator_ips           = var.coordinator_ips
  coordinator_ami           = var.coordinator_ami
  executor_ami              = var.executor_ami
  instance_profiles         = module.iam.instance_profiles
  client_security_group_ids = [module.triggers.security_group_id]
  admin_cidrs               = var.admin_cidrs
  cluster_secret_arn        = var.cluster_secret_arn
  engine_store              = "s3://${module.buckets.internal_bucket}/engine"
  log_group_names           = { coordinator = local.log_groups.coordinator, executor = local.log_groups.executor }
  executor_group_names      = local.executor_groups

  # Instances start with their role's permissions in place.
  depends_on = [module.iam]
}

module "triggers" {
  source = "../../modules/triggers"

  name                = var.name
  lambda_zip          = var.lambda_zip
  role_arns           = module.iam.role_arns
  external_bucket     = module.buckets.external_bucket
  external_bucket_arn = module.buckets.external_bucket_arn
  bucket_urls = {
    external = "s3://${module.buckets.external_bucket}"
    internal = "s3://${module.buckets.internal_bucket}"
    content  = var.content_bucket_url
  }
  job_config            = var.job_config
  coordinator_api_addrs = module.cluster.coordinator_api_addrs
  cluster_secret_arn    = var.cluster_secret_arn
  status_url            = module.cluster.status_urls[0]
  notify                = var.notify
  subnet_ids            = var.subnet_ids
  vpc_id                = var.vpc_id
  log_group_names       = { schedule = local.log_groups.lambda_schedule, upload = local.log_groups.lambda_upload }

  # A VPC function is created only once its role may make network
  # interfaces.
  depends_on = [module.iam]
}
