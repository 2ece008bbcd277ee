"""The OVOP producers' messaging service, in layers (ARCHITECTURE.md; tests/test_layers.py keeps them):

cli · web, worker · jobs · conversation · domain · messaging · models, language · core
"""
