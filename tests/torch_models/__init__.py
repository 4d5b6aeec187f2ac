"""PyTorch re-implementations of the networks, written from the reference specs, used only
as test oracles (official state_dict key names, so their weights convert like the originals)."""
