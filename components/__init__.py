"""The ISP's Pulumi components: one ComponentResource per file, each with its Args model."""
