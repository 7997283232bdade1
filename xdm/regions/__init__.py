"""CIAO regions: shapes with vectorised ``contains``, algebra, files, areas."""
