"""preflight: an offline `pulumi preview` (and `--policy-pack`) for Pulumi Python programs."""
