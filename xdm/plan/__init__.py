"""The planner: a parsed virtual file resolved against its block -> a ``Plan``.

Decides what runs (which block, columns, filters, bins, outputs); runs nothing
itself. The engine below it runs the plan.
"""
