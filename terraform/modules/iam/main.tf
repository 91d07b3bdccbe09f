# One role per party, each granted exactly the calls its code makes:
#
#   lambda_schedule  submits the Daily Runner: no bucket access at all;
#                    reads the cluster secret (token and CA) at cold start
#   lambda_upload    the same, and reads a batch's zone list and images,
#                    writes the validation report next to a rejected upload
#   coordinator      engine state and job logs in the internal bucket,
#                    validated data for the quality page, and the executor
#                    groups' desired capacity (package scaling)
#   executor         the runners' reads and writes (package store)
#   external_team    uploads ground truth and zone lists and verdicts,
#                    reads predictions and validation reports
#
# The S3 actions are those of package store: GetObject (Get, GetRange,
# Stat), PutObject (Put, conditional puts, multipart parts), DeleteObject,
# ListBucket (List), ListBucketMultipartUploads and AbortMultipartUpload
# (the sweeper). terraform_test.go checks the policies against that list.

locals {
  ext      = var.external_bucket_arn
  int      = var.internal_bucket_arn
  content  = var.content_bucket_arn
  lambda_s = "lambda_schedule"
  lambda_u = "lambda_upload"
}

data "aws_iam_policy_document" "lambda_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "ec2_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "external_team_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = var.external_team_principals
    }
  }
}

# ---- Lambdas ----

# Both functions run in the VPC to reach the coordinators' private
# addresses. EC2 does not scope these actions to resources.
locals {
  vpc_lambda_actions = [
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
  ]
}

data "aws_iam_policy_document" "lambda_schedule" {
  statement {
    sid       = "ClusterSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.cluster_secret_arn]
  }

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${var.log_group_arns[local.lambda_s]}:*"]
  }

  statement {
    sid       = "VPCNetworkInterfaces"
    actions   = local.vpc_lambda_actions
    resources = ["*"]
  }
}

data "aws_iam_policy_document" "lambda_upload" {
  statement {
    sid       = "ClusterSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.cluster_secret_arn]
  }

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${var.log_group_arns[local.lambda_u]}:*"]
  }

  statement {
    sid       = "VPCNetworkInterfaces"
    actions   = local.vpc_lambda_actions
    resources = ["*"]
  }

  statement {
    sid     = "ReadUploads"
    actions = ["s3:GetObject"]
    resources = [
      "${local.ext}/zone-list/*",
      "${local.ext}/ground-truth-images/*",
    ]
  }

  statement {
    sid       = "ListGroundTruthImages"
    actions   = ["s3:ListBucket"]
    resources = [local.ext]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["ground-truth-images/*"]
    }
  }

  statement {
    sid       = "WriteValidationReports"
    actions   = ["s3:PutObject"]
    resources = ["${local.ext}/zone-list/*.validation-report.json"]
  }
}

# ---- Coordinator ----

data "aws_iam_policy_document" "coordinator" {
  statement {
    sid       = "ClusterSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.cluster_secret_arn]
  }

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${var.log_group_arns["coordinator"]}:*"]
  }

  statement {
    sid       = "EngineStateObjects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${local.int}/*"]
  }

  statement {
    sid       = "EngineStateListing"
    actions   = ["s3:ListBucket", "s3:ListBucketMultipartUploads"]
    resources = [local.int]
  }

  statement {
    sid     = "QualityPageReads"
    actions = ["s3:GetObject"]
    resources = [
      "${local.ext}/validated-data/*",
      "${local.ext}/predicted-data/*",
    ]
  }

  statement {
    sid       = "QualityPageListing"
    actions   = ["s3:ListBucket"]
    resources = [local.ext]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["validated-data/*", "predicted-data/*"]
    }
  }

  statement {
    sid       = "ScaleExecutors"
    actions   = ["autoscaling:SetDesiredCapacity"]
    resources = var.executor_asg_arns
  }

  # DescribeAutoScalingGroups takes no resource-level permissions.
  statement {
    sid       = "ReadExecutorGroups"
    actions   = ["autoscaling:DescribeAutoScalingGroups"]
    resources = ["*"]
  }
}

# ---- Executor ----

data "aws_iam_policy_document" "executor" {
  statement {
    sid       = "ClusterSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.cluster_secret_arn]
  }

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${var.log_group_arns["executor"]}:*"]
  }

  statement {
    sid       = "InternalObjects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${local.int}/*"]
  }

  statement {
    sid       = "InternalListing"
    actions   = ["s3:ListBucket", "s3:ListBucketMultipartUploads"]
    resources = [local.int]
  }

  statement {
    sid     = "ExternalReads"
    actions = ["s3:GetObject"]
    resources = [
      "${local.ext}/zone-list/*",
      "${local.ext}/ground-truth-images/*",
      "${local.ext}/validated-data/*",
    ]
  }

  statement {
    sid     = "ExternalWrites"
    actions = ["s3:PutObject", "s3:AbortMultipartUpload"]
    resources = [
      "${local.ext}/predicted-data/*",
      "${local.ext}/zone-list/*.validation-report.json",
    ]
  }

  # The batch runner removes a stale report once a batch passes.
  statement {
    sid       = "ExternalReportCleanup"
    actions   = ["s3:DeleteObject"]
    resources = ["${local.ext}/zone-list/*.validation-report.json"]
  }

  statement {
    sid       = "ExternalListing"
    actions   = ["s3:ListBucket"]
    resources = [local.ext]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["ground-truth-images/*", "zone-list/*", "validated-data/*", "predicted-data/*"]
    }
  }

  statement {
    sid       = "ContentReads"
    actions   = ["s3:GetObject"]
    resources = ["${local.content}/*"]
  }

  statement {
    sid       = "ContentListing"
    actions   = ["s3:ListBucket"]
    resources = [local.content]
  }
}

# ---- External team ----

data "aws_iam_policy_document" "external_team" {
  statement {
    sid     = "Uploads"
    actions = ["s3:PutObject", "s3:AbortMultipartUpload"]
    resources = [
      "${local.ext}/ground-truth-images/*",
      "${local.ext}/zone-list/*.csv",
      "${local.ext}/validated-data/*",
    ]
  }

  statement {
    sid     = "Reads"
    actions = ["s3:GetObject"]
    resources = [
      "${local.ext}/ground-truth-images/*",
      "${local.ext}/zone-list/*",
      "${local.ext}/predicted-data/*",
      "${local.ext}/validated-data/*",
    ]
  }

  statement {
    sid       = "Listing"
    actions   = ["s3:ListBucket", "s3:ListBucketMultipartUploads"]
    resources = [local.ext]
  }
}

# ---- Roles ----

locals {
  roles = {
    lambda_schedule = { trust = data.aws_iam_policy_document.lambda_trust.json, policy = data.aws_iam_policy_document.lambda_schedule.json }
    lambda_upload   = { trust = data.aws_iam_policy_document.lambda_trust.json, policy = data.aws_iam_policy_document.lambda_upload.json }
    coordinator     = { trust = data.aws_iam_policy_document.ec2_trust.json, policy = data.aws_iam_policy_document.coordinator.json }
    executor        = { trust = data.aws_iam_policy_document.ec2_trust.json, policy = data.aws_iam_policy_document.executor.json }
    external_team   = { trust = data.aws_iam_policy_document.external_team_trust.json, policy = data.aws_iam_policy_document.external_team.json }
  }
}

resource "aws_iam_role" "this" {
  for_each = local.roles

  name               = "${var.name}-${replace(each.key, "_", "-")}"
  assume_role_policy = each.value.trust
  tags               = var.tags
}

resource "aws_iam_role_policy" "this" {
  for_each = local.roles

  name   = "${var.name}-${replace(each.key, "_", "-")}"
  role   = aws_iam_role.this[each.key].id
  policy = each.value.policy
}

resource "aws_iam_instance_profile" "this" {
  for_each = toset(["coordinator", "executor"])

  name = "${var.name}-${each.key}"
  role = aws_iam_role.this[each.key].name
  tags = var.tags
}
