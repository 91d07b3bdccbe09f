# Two functions from one bootstrap (cmd/czlambda), each with its own role:
# "schedule" (EventBridge cron -> Daily Runner for yesterday) and "upload"
# (S3 ObjectCreated on zone-list/*.csv -> validate -> Batch Runner). Both
# run in the VPC to reach the coordinators and log to CloudWatch. They read
# the coordinators' token and CA from the cluster secret at cold start
# (CZ_SECRET_ARN), so neither sits in their environment or this state.

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

locals {
  functions = {
    schedule = { role = "lambda_schedule", timeout = 30, memory = 256 }
    upload   = { role = "lambda_upload", timeout = 300, memory = 1024 }
  }
}

resource "aws_cloudwatch_log_group" "this" {
  for_each = local.functions

  name              = var.log_group_names[each.key]
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

resource "aws_security_group" "lambda" {
  name        = "${var.name}-lambda"
  description = "cz Lambdas: no ingress; egress to the coordinators' API and HTTPS"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_egress_rule" "api" {
  security_group_id = aws_security_group.lambda.id
  description       = "coordinators' gRPC API"
  ip_protocol       = "tcp"
  from_port         = var.api_port
  to_port           = var.api_port
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.lambda.id
  description       = "HTTPS to S3, Secrets Manager and the alert webhook"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_lambda_function" "this" {
  for_each = local.functions

  function_name    = "${var.name}-${each.key}"
  role             = var.role_arns[each.value.role]
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = ["x86_64"]
  filename         = var.lambda_zip
  source_code_hash = filebase64sha256(var.lambda_zip)
  timeout          = each.value.timeout
  memory_size      = each.value.memory

  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = [aws_security_group.lambda.id]
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.this[each.key].name
  }

  environment {
    variables = {
      CZ_TRIGGER       = each.key
      CZ_EXTERNAL_URL  = var.bucket_urls.external
      CZ_INTERNAL_URL  = var.bucket_urls.internal
      CZ_CONTENT_URL   = var.bucket_urls.content
      CZ_S3_REGION     = data.aws_region.current.name
      CZ_JOB_CONFIG    = var.job_config
      CZ_TIMEZONE      = var.time_zone
      CZ_COORDINATORS  = var.coordinator_api_addrs
      CZ_SECRET_ARN    = var.cluster_secret_arn
      CZ_STATUS_URL    = var.status_url
      CZ_GCHAT_WEBHOOK = var.notify.gchat_webhook
      CZ_SMTP_ADDR     = var.notify.smtp_addr
      CZ_MAIL_FROM     = var.notify.mail_from
      CZ_MAIL_TO       = var.notify.mail_to
    }
  }

  tags = var.tags

  depends_on = [aws_cloudwatch_log_group.this]
}

# Asynchronous invocations (S3, EventBridge) retry twice on error; the
# idempotency keys make a retry find the first job.
resource "aws_lambda_function_event_invoke_config" "this" {
  for_each = aws_lambda_function.this

  function_name                = each.value.function_name
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = 3600
}

# ---- Schedule ----

resource "aws_cloudwatch_event_rule" "daily" {
  name                = "${var.name}-daily-runner"
  description         = "Daily Runner for yesterday (${var.time_zone})"
  schedule_expression = var.daily_schedule
  tags                = var.tags
}

resource "aws_cloudwatch_event_target" "daily" {
  rule = aws_cloudwatch_event_rule.daily.name
  arn  = aws_lambda_function.this["schedule"].arn
}

resource "aws_lambda_permission" "events" {
  statement_id  = "AllowEventBridge"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this["schedule"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.daily.arn
}

# ---- Uploads ----

resource "aws_lambda_permission" "s3" {
  statement_id   = "AllowExternalBucket"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.this["upload"].function_name
  principal      = "s3.amazonaws.com"
  source_arn     = var.external_bucket_arn
  source_account = data.aws_caller_identity.current.account_id
}

resource "aws_s3_bucket_notification" "zone_lists" {
  bucket = var.external_bucket

  lambda_function {
    id                  = "cz-zone-list-upload"
    lambda_function_arn = aws_lambda_function.this["upload"].arn
    events              = ["s3:ObjectCreated:*"]
    filter_prefix       = "zone-list/"
    filter_suffix       = ".csv"
  }

  depends_on = [aws_lambda_permission.s3]
}
