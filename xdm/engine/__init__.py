"""The engine: plan steps, numexpr generation from the AST, kernels, the executor.

Runs a list of steps over a block's rows in one streaming pass, chunk by chunk.
Below the planner: it runs any plan it is given and never decides what to run.
"""
