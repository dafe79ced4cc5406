// Stands in for upstream's program file (pulumi/pulumi-policy@805bcbc tests/integration/deserialize/program/index.ts):
// __main__.py's FileAssets name "index.ts", as upstream's do, and the pack asserts that path.
