"""The language: grammar, parse tree, AST nodes, unparse and errors with carets.

Text in, frozen ``xdm.lang.nodes`` out. The lowest stage: imports nothing from the
rest of xdm except ``xdm.errors`` and no heavy package at import time (lark is
loaded when the first text is parsed; astropy never).
"""
