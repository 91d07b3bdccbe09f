output "function_names" {
  description = "Function names: schedule and upload."
  value       = { for k, f in aws_lambda_function.this : k => f.function_name }
}

output "security_group_id" {
  description = "Security group of the functions (allowed to the coordinators' API)."
  value       = aws_security_group.lambda.id
}


output "daily_rule" {
  description = "Name of the EventBridge rule of the Daily Runner."
  value       = aws_cloudwatch_event_rule.daily.name
}
