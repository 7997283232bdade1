"""The xdm grammar files, installed as the package ``xdm.grammar``."""
