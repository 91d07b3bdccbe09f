# The cluster: three coordinators at fixed private addresses (Raft peers
# and API endpoints never move: a replaced instance comes back at the same
# address with the same id) and GPU executors in two autoscaling groups,
# spot first and on-demand as the fallback, both at 0 when idle. The
# coordinators' leader sets their desired capacity (package scaling).

data "aws_region" "current" {}

locals {
  coordinators = { for i, ip in var.coordinator_ips : "c${i + 1}" => { ip = ip, subnet = var.subnet_ids[i] } }
  peers        = join(",", [for id, c in local.coordinators : "${id}=${c.ip}:${var.ports.raft}=${c.ip}:${var.ports.api}"])
  seeds        = join(",", [for c in local.coordinators : "${c.ip}:${var.ports.gossip}"])
  api_addrs    = join(",", [for c in local.coordinators : "${c.ip}:${var.ports.api}"])
  groups = {
    spot     = { on_demand_percentage = 0 }
    ondemand = { on_demand_percentage = 100 }
  }
}

# ---- Logs ----

resource "aws_cloudwatch_log_group" "this" {
  for_each = toset(["coordinator", "executor"])

  name              = var.log_group_names[each.key]
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

# ---- Security groups: only the cluster's ports, only from the cluster ----

resource "aws_security_group" "coordinator" {
  name        = "${var.name}-coordinator"
  description = "cz coordinators: Raft between coordinators, gRPC API, memberlist gossip, status page"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_security_group" "executor" {
  name        = "${var.name}-executor"
  description = "cz executors: memberlist gossip and shuffle blocks"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

locals {
  # Ingress rules as data: one rule per (group, port, protocol, source).
  cluster_sgs = {
    coordinator = aws_security_group.coordinator.id
    executor    = aws_security_group.executor.id
  }
  ingress = merge(
    { "coordinator-raft" = { sg = "coordinator", port = var.ports.raft, proto = "tcp", from_sg = aws_security_group.coordinator.id, cidr = null } },
    { for k, v in local.cluster_sgs : "coordinator-api-from-${k}" => { sg = "coordinator", port = var.ports.api, proto = "tcp", from_sg = v, cidr = null } },
    { for i, v in var.client_security_group_ids : "coordinator-api-from-client-${i}" => { sg = "coordinator", port = var.ports.api, proto = "tcp", from_sg = v, cidr = null } },
    { for i, c in var.admin_cidrs : "coordinator-api-from-admin-${i}" => { sg = "coordinator", port = var.ports.api, proto = "tcp", from_sg = null, cidr = c } },
    { for i, c in var.admin_cidrs : "coordinator-status-from-admin-${i}" => { sg = "coordinator", port = var.ports.status, proto = "tcp", from_sg = null, cidr = c } },
    { for pair in setproduct(keys(local.cluster_sgs), keys(local.cluster_sgs), ["tcp", "udp"]) :
      "${pair[0]}-gossip-${pair[2]}-from-${pair[1]}" => { sg = pair[0], port = var.ports.gossip, proto = pair[2], from_sg = local.cluster_sgs[pair[1]], cidr = null }
    },
    { "executor-shuffle" = { sg = "executor", port = var.ports.shuffle, proto = "tcp", from_sg = aws_security_group.executor.id, cidr = null } },
  )
}

resource "aws_vpc_security_group_ingress_rule" "this" {
  for_each = local.ingress

  security_group_id            = local.cluster_sgs[each.value.sg]
  description                  = each.key
  ip_protocol                  = each.value.proto
  from_port                    = each.value.port
  to_port                      = each.value.port
  referenced_security_group_id = each.value.from_sg
  cidr_ipv4                    = each.value.cidr
}

# Egress: HTTPS to AWS APIs (S3, CloudWatch, Secrets Manager, Auto
# Scaling; through the VPC's endpoints or NAT) and the cluster's ports
# to the cluster.
resource "aws_vpc_security_group_egress_rule" "https" {
  for_each = local.cluster_sgs

  security_group_id = each.value
  description       = "HTTPS to AWS APIs"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "cluster" {
  for_each = { for pair in setproduct(keys(local.cluster_sgs), keys(local.cluster_sgs)) : "${pair[0]}-to-${pair[1]}" => pair }

  security_group_id            = local.cluster_sgs[each.value[0]]
  description                  = "cluster ports ${each.key}"
  ip_protocol                  = "-1"
  referenced_security_group_id = local.cluster_sgs[each.value[1]]
}

# ---- Coordinators ----

resource "aws_instance" "coordinator" {
  for_each = local.coordinators

  ami                    = var.coordinator_ami
  instance_type          = var.coordinator_instance_type
  subnet_id              = each.value.subnet
  private_ip             = each.value.ip
  vpc_security_group_ids = [aws_security_group.coordinator.id]
  iam_instance_profile   = var.instance_profiles["coordinator"]

  user_data = templatefile("${path.module}/coordinator.sh.tftpl", {
    id         = each.key
    ip         = each.value.ip
    peers      = local.peers
    seeds      = local.seeds
    store      = var.engine_store
    ports      = var.ports
    region     = data.aws_region.current.name
    secret_arn = var.cluster_secret_arn
    log_group  = aws_cloudwatch_log_group.this["coordinator"].name
    spot_asg   = aws_autoscaling_group.executor["spot"].name
    od_asg     = aws_autoscaling_group.executor["ondemand"].name
  })
  user_data_replace_on_change = false

  metadata_options {
    http_tokens = "required"
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = 50
    encrypted   = true
  }

  maintenance_options {
    auto_recovery = "default"
  }

  tags = merge(var.tags, { Name = "${var.name}-coordinator-${each.key}", "cz:role" = "coordinator" })
}

# ---- Executors ----

resource "aws_launch_template" "executor" {
  name_prefix            = "${var.name}-executor-"
  image_id               = var.executor_ami
  vpc_security_group_ids = [aws_security_group.executor.id]

  iam_instance_profile {
    name = var.instance_profiles["executor"]
  }

  user_data = base64encode(templatefile("${path.module}/executor.sh.tftpl", {
    seeds      = local.seeds
    api_addrs  = local.api_addrs
    store      = var.engine_store
    ports      = var.ports
    region     = data.aws_region.current.name
    secret_arn = var.cluster_secret_arn
    log_group  = aws_cloudwatch_log_group.this["executor"].name
  }))

  metadata_options {
    http_tokens = "required"
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_type           = "gp3"
      volume_size           = 200
      encrypted             = true
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = "${var.name}-executor", "cz:role" = "executor" })
  }

  tags = var.tags
}

resource "aws_autoscaling_group" "executor" {
  for_each = local.groups

  name                = var.executor_group_names[each.key]
  min_size            = 0
  max_size            = var.executor_max
  desired_capacity    = 0
  vpc_zone_identifier = var.subnet_ids
  capacity_rebalance  = each.key == "spot"
  # Executors drain on SIGTERM (tasks finish or are handed back).
  default_instance_warmup = 120

  mixed_instances_policy {
    instances_distribution {
      on_demand_base_capacity                  = 0
      on_demand_percentage_above_base_capacity = each.value.on_demand_percentage
      spot_allocation_strategy                 = "price-capacity-optimized"
      on_demand_allocation_strategy            = "prioritized"
    }

    launch_template {
      launch_template_specification {
        launch_template_id = aws_launch_template.executor.id
        version            = "$Latest"
      }

      dynamic "override" {
        for_each = var.executor_instance_types
        content {
          instance_type = override.value
        }
      }
    }
  }

  tag {
    key                 = "cz:group"
    value               = each.key
    propagate_at_launch = true
  }

  # The coordinators own the desired capacity.
  lifecycle {
    ignore_changes = [desired_capacity]
  }
}
