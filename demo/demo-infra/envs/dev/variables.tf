variable "project_name" {
  description = "Project name, used as the prefix of every resource name."
  type        = string
  default     = "demo"
}

variable "environment" {
  description = "Environment name for the resources owned by this env (secret, authorizer, API)."
  type        = string
  default     = "dev"
}

variable "aws_region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "us-east-1"
}

variable "log_level" {
  description = "Python log level for every Lambda."
  type        = string
  default     = "INFO"
}

variable "common_tags" {
  description = "Tags applied to every resource."
  type        = map(string)
  default = {
    project = "demo"
  }
}

variable "supabase_url" {
  description = "Supabase project URL."
  type        = string
}

variable "supabase_service_role_key" {
  description = "Supabase service role key; set it in local-secrets.tfvars."
  type        = string
  sensitive   = true
}
