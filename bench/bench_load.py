"""Load LIDC-IDRI-0001 (133-slice DICOM series): load_volume against SimpleITK's series reader.

Prints the median time of each (several repeats, interleaved, in one run), their ratio
(target <= 1.2) and load_volume's peak memory over an interpreter that imported the same
modules (target <= 2x the int16 volume + 150 MB; Linux /proc needed for the memory part).
Run: ``.venv/bin/python bench/bench_load.py``.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SERIES = SHARED_DATA / "lidc" / "LIDC-IDRI-0001" / "dicom"
REPEATS = 7

# Peak memory of one action in a fresh interpreter that already imported the same modules:
# reset the kernel's high-water mark (clear_refs 5), then VmHWM after minus VmRSS before.
_PEAK_CHILD = """
import json, sys
import numpy as np, pydicom, SimpleITK as sitk
from noduleseg.core import load_volume

def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key))

with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
before = status("VmRSS:")
if sys.argv[1] == "load_volume":
    hu = load_volume(sys.argv[2]).hu
else:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(sys.argv[2]))
    hu = sitk.GetArrayFromImage(reader.Execute())
print(json.dumps({"peak_bytes": status("VmHWM:") - before, "volume_bytes": int(hu.size * 2)}))
"""


def load_with_simpleitk(folder: Path):
    import SimpleITK as sitk
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return sitk.GetArrayFromImage(reader.Execute())


def timings(folder: Path) -> tuple[list[float], list[float]]:
    from noduleseg.core import load_volume
    ours, theirs = [], []
    load_volume(folder), load_with_simpleitk(folder)  # warm the file cache and imports
    for _ in range(REPEATS):
        start = time.perf_counter()
        load_volume(folder)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        load_with_simpleitk(folder)
        theirs.append(time.perf_counter() - start)
    return ours, theirs


def peak(which: str, folder: Path) -> dict:
    result = subprocess.run([sys.executable, "-c", _PEAK_CHILD, which, str(folder)],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    if not SERIES.is_dir():
        print(f"bench_load: skipped: data absent ({SERIES})")
        return 0
    ours, theirs = timings(SERIES)
    ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
    print(f"bench_load: {SERIES} ({REPEATS} repeats, interleaved)")
    print(f"  load_volume              median {ours_s * 1000:7.1f} ms")
    print(f"  SimpleITK series reader  median {theirs_s * 1000:7.1f} ms "
          "(ImageSeriesReader + GetArrayFromImage)")
    print(f"  ratio load_volume / SimpleITK = {ours_s / theirs_s:.2f} (target <= 1.2)")
    mine, itk = peak("load_volume", SERIES), peak("simpleitk", SERIES)
    mib = 2**20
    budget = 2 * mine["volume_bytes"] + 150 * mib
    print(f"  peak memory load_volume {mine['peak_bytes'] / mib:.0f} MiB over the import "
          f"baseline; budget 2 x int16 volume ({mine['volume_bytes'] / mib:.0f} MiB) + 150 MiB = "
          f"{budget / mib:.0f} MiB -> {'OK' if mine['peak_bytes'] <= budget else 'OVER'}")
    print(f"  peak memory SimpleITK series reader {itk['peak_bytes'] / mib:.0f} MiB (reference)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
