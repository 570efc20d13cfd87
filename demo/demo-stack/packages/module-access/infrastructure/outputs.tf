output "api_routes" {
  description = "Routes served by this module, consumed by the modular API gateway."
  value = [
    { method = "GET", path = "/profiles/me", integration = aws_lambda_function.profiles.invoke_arn, public = false },
    { method = "PUT", path = "/profiles/me", integration = aws_lambda_function.profiles.invoke_arn, public = false },
    { method = "GET", path = "/orgs/{orgId}", integration = aws_lambda_function.orgs.invoke_arn, public = false },
    { method = "GET", path = "/orgs/{orgId}/members", integration = aws_lambda_function.members.invoke_arn, public = false },
    { method = "POST", path = "/orgs/{orgId}/members", integration = aws_lambda_function.members.invoke_arn, public = false },
    { method = "GET", path = "/orgs/{orgId}/email-domains", integration = aws_lambda_function.org_email_domains.invoke_arn, public = false },
  ]
}

output "org_common_layer_arn" {
  description = "Versioned ARN of the org-common layer, attached by the other modules."
  value       = aws_lambda_layer_version.org_common.arn
}

output "lambda_function_names" {
  value = {
    "profiles"          = aws_lambda_function.profiles.function_name
    "orgs"              = aws_lambda_function.orgs.function_name
    "members"           = aws_lambda_function.members.function_name
    "org-email-domains" = aws_lambda_function.org_email_domains.function_name
  }
}

output "lambda_function_arns" {
  value = {
    "profiles"          = aws_lambda_function.profiles.arn
    "orgs"              = aws_lambda_function.orgs.arn
    "members"           = aws_lambda_function.members.arn
    "org-email-domains" = aws_lambda_function.org_email_domains.arn
  }
}
