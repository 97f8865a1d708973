"""Strategy discovery: a genome over the strategy DSL searched by nevergrad, evaluated in batches
through the kernels, the best exported as DSL YAML."""
