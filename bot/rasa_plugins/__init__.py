"""What Rasa loads: the NLU components, the crisis and steering policies, the encrypted tracker
store, and the client for Rasa's HTTP API. Importing this package changes nothing; Rasa's two
runtime fixes are applied by `components`, the module Rasa imports to load the pipeline."""
