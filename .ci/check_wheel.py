"""Check a built wheel: LICENSE and NOTICE in its .dist-info, the bundled data files present."""

import sys
import zipfile

names = zipfile.ZipFile(sys.argv[1]).namelist()
need = ["LICENSE", "NOTICE", "bandits/datasets/obd_prior_bts.json", "bandits/datasets/obd_sample/README.md"]
missing = [n for n in need if not any(x.endswith(n) and (n in ("LICENSE", "NOTICE")) == (".dist-info/" in x)
                                      for x in names)]
if missing:
    sys.exit(f"wheel {sys.argv[1]}: missing {missing}")
print(f"wheel ok: {sys.argv[1]} ({len(names)} files, LICENSE and NOTICE in .dist-info)")
