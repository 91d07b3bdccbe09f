# tflint's core rules (the bundled terraform ruleset); the AWS ruleset
# cannot be downloaded here. `make test` runs it over every module.
config {
  call_module_type = "local"
}

plugin "terraform" {
  enabled = true
  preset  = "all"
}
