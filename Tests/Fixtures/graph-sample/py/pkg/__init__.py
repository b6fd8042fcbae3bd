"""The package. import nothing_here"""
