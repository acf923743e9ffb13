"""madoguchi's core, in layers that import one way (docs/architecture.md):

language, domain, security  ←  store  ←  services  ←  rasa_plugins (and the adapters outside bot/:
actions/, channels/, staff/). No TensorFlow, Rasa or Flask below rasa_plugins.
"""
