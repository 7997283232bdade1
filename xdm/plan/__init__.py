"""The planner: a parsed virtual file resolved against its block -> a ``Plan``.

Open -> check -> plan: ``planner`` opens the block once, ``check`` resolves
every qualifier against its header and raises every user error (helped by
``grids`` for ``[bin]`` and ``columns`` for ``[cols]``), and ``planner``
assembles the steps from what was checked. Runs nothing itself: the engine
below it runs the plan.
"""
