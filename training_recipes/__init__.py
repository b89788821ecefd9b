"""Recipes that make each shipped checkpoint, and the thesis recipes for MTAT/MSD/GTZAN/FMA."""
