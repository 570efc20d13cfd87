variable "project_name" {
  description = "Project name, used as the prefix of every resource name."
  type        = string
}

variable "environment" {
  description = "Deployment environment (dev, tst, stg, prd)."
  type        = string
}

variable "module_name" {
  description = "Short module name used in function names."
  type        = string
}

variable "aws_region" {
  description = "AWS region the module is deployed to."
  type        = string
}

variable "supabase_secret_arn" {
  description = "ARN of the Secrets Manager secret holding the Supabase url and service role key."
  type        = string
}

variable "log_level" {
  description = "Python log level for the Lambdas."
  type        = string
  default     = "INFO"
}

variable "common_tags" {
  description = "Tags applied to every resource."
  type        = map(string)
  default     = {}
}

variable "sns_topic_arn" {
  description = "Optional SNS topic for CloudWatch alarms."
  type        = string
  default     = null
}

variable "org_common_layer_arn" {
  description = "ARN of the org-common layer published by module-access."
  type        = string
}
