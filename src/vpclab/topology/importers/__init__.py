"""Importers: topologies from other tools' descriptions of a network (`vpclab import ...`)."""
