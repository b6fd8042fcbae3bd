from . import helpers
def run(argv):
    return len(argv)
