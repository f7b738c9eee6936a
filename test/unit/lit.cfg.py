# lit configuration that runs every GoogleTest binary (test/unit/*Tests).
import os
import lit.formats

config.name = "attnc-unit"
config.test_format = lit.formats.GoogleTest(".", "Tests")
config.test_source_root = os.path.join(config.attn_obj_root, "test", "unit")
config.test_exec_root = config.test_source_root
