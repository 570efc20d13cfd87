output "api_gateway_id" {
  value = module.modular_api_gateway.api_id
}

output "api_gateway_url" {
  value = module.modular_api_gateway.api_endpoint
}

output "api_route_keys" {
  value = module.modular_api_gateway.route_keys
}

output "authorizer_function_name" {
  value = aws_lambda_function.authorizer.function_name
}

output "supabase_secret_arn" {
  value     = aws_secretsmanager_secret.supabase.arn
  sensitive = true
}
