terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
  }

  # Keep state in S3 with locking in a real account, e.g.:
  # backend "s3" {
  #   bucket       = "cz-terraform-state"
  #   key          = "example/terraform.tfstate"
  #   region       = "eu-west-1"
  #   use_lockfile = true
  # }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      project     = "celebrity-zones"
      environment = var.name
    }
  }
}
