variable "name" {
  description = "Prefix of every resource name, such as cz-prod."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the cluster."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets, one per availability zone; coordinator i goes into subnet i."
  type        = list(string)
}

variable "coordinator_ips" {
  description = "Fixed private addresses of the three coordinators, one in each of the first three subnets: their stable Raft and API addresses."
  type        = list(string)

  validation {
    condition     = length(var.coordinator_ips) == 3
    error_message = "A coordinator group has 3 members: give 3 addresses."
  }
}

variable "coordinator_ami" {
  description = "AMI of the coordinators (Amazon Linux 2023 with cz installed at /usr/local/bin/cz)."
  type        = string
}

variable "coordinator_instance_type" {
  description = "Instance type of the coordinators."
  type        = string
  default     = "m7i.large"
}

variable "executor_ami" {
  description = "AMI of the executors: a GPU image (NVIDIA driver, CUDA, ONNX Runtime GPU) with cz and the models installed."
  type        = string
}

variable "executor_instance_types" {
  description = "GPU instance types the executor groups may launch, most preferred first."
  type        = list(string)
  default     = ["g5.xlarge", "g6.xlarge", "g4dn.xlarge"]
}

variable "executor_max" {
  description = "Largest number of executors of each group."
  type        = number
  default     = 8
}

variable "instance_profiles" {
  description = "Instance profile names: coordinator and executor."
  type        = map(string)
}

variable "client_security_group_ids" {
  description = "Security groups allowed to call the coordinators' client API (the Lambdas)."
  type        = list(string)
  default     = []
}

variable "admin_cidrs" {
  description = "Networks allowed to open the status page and call the client API (operators' VPN)."
  type        = list(string)
  default     = []
}

variable "ports" {
  description = "Cluster ports: raft (coordinators), api (gRPC), gossip (memberlist, TCP and UDP), shuffle (executors), status (web page)."
  type = object({
    raft    = number
    api     = number
    gossip  = number
    shuffle = number
    status  = number
  })
  default = {
    raft    = 7000
    api     = 7001
    gossip  = 7946
    shuffle = 7002
    status  = 8080
  }
}

variable "engine_store" {
  description = "The engine's store (attempt outputs, manifests, event logs) that coordinators and executors share, such as s3://internal-bucket/engine."
  type        = string
}

variable "cluster_secret_arn" {
  description = "Secrets Manager secret (JSON: ca_pem, cert_pem, key_pem, token) that coordinators and executors read at boot for mutual TLS and the client token."
  type        = string
}

variable "log_group_names" {
  description = "CloudWatch log group names: coordinator, executor."
  type        = map(string)
}

variable "executor_group_names" {
  description = "Executor autoscaling group names: spot, ondemand."
  type        = map(string)
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the cluster's logs."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
  default     = {}
}
