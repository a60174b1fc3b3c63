"""The stream shell: decode, call the gate, route. ``process`` is independent of faust;
``app`` wires it to faust agents."""
