"""FITS at the edge: the only package that imports the FITS library.

Opening a virtual file's block, column metadata, chunked reads from memory maps,
headers, GTIs, the data subspace, image WCS and atomic writes. Knows FITS and the
CIAO block rules; knows nothing about plans or tools.
"""
