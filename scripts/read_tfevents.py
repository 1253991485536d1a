#!/usr/bin/env python3
"""Reads a run folder's TensorBoard event files with TensorBoard's own reader and prints
every event as JSON: {"files": [...], "scalars": {tag: [[step, value], ...]},
"text": {tag: [[step, text], ...]}, "file_version": [...]} — for cinder's tests.

  .venv/bin/python scripts/read_tfevents.py runs/NAME
"""
import glob
import json
import os
import sys


def main():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.util import tensor_util

    files = sorted(glob.glob(os.path.join(sys.argv[1], "events.out.tfevents.*")))
    out = {"files": [os.path.basename(f) for f in files], "scalars": {}, "text": {},
           "file_version": []}
    for path in files:
        for event in EventFileLoader(path).Load():
            if event.HasField("file_version"):
                out["file_version"].append(event.file_version)
            # EventFileLoader is the loader TensorBoard itself uses: it turns
            # simple_value scalars into the scalars plugin's tensors, as TensorBoard shows them.
            for v in event.summary.value:
                plugin = v.metadata.plugin_data.plugin_name
                if plugin == "scalars":
                    value = float(tensor_util.make_ndarray(v.tensor).item())
                    out["scalars"].setdefault(v.tag, []).append([event.step, value])
                elif plugin == "text":
                    text = tensor_util.make_ndarray(v.tensor).item().decode()
                    out["text"].setdefault(v.tag, []).append([event.step, text])
                else:
                    out.setdefault("other", []).append([event.step, v.tag])
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
