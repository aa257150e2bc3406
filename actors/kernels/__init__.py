"""What runs inside operator and reader actors: kernels, steps and their compiled specs.

The contract is in :mod:`raystream.actors.kernels.base`. raystream's planner
builds the specs (``ChainSpec``, ``ReduceSpec``, ``UpsertSpec``, ``ReaderSteps``,
``PrepareRows``, ``OutputFormat``); actors build and drive the kernels.
"""
