"""Pure render functions: typed values in, configuration text out. No Pulumi here."""
