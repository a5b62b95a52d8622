import sys
def test_probe():
    import ingest.clean
    print(sys.modules['ingest'].__file__, __name__, sys.path[:3])
