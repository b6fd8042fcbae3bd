import os
from pkg import core
# import pkg.secret
text = "import pkg.fake"
def main():
    return core.run([])
