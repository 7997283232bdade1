"""CIAO regions: shapes with vectorised ``contains``, algebra, files, areas.

Data flows one way: region text -> ``xdm.lang.parser.parse_region`` -> region nodes
-> ``build`` (units, sky -> physical via WCS, argument checks) -> ``Region``.

* ``shapes``    one frozen class per CIAO shape: CIAO's own arithmetic and
                boundary rules, extent, exact area, numexpr text, printed form
* ``compound``  ``Region``: CIAO's sum of products (components OR'ed, shapes in
                a component AND'ed), region-bounds prefilter, area on a grid
* ``build``     region nodes -> ``Region``
* ``coords``    frames: physical, image (LTM/LTV), sky (astropy WCS)
* ``regfile``   CIAO/ds9 text files, FITS region tables, mask images
* ``area``      BACKSCAL
* ``api``       ``region(text_or_node, *, wcs=None, base_dir=None, logical=None)``

Masks agree with CIAO's region library on all 480,000 points of
``tests/data/regions-ciao.npz`` (edges, vertices and centres included).
"""
