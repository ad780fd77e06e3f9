# casaconfig file used by workflow_lib.casa: offline CASA on the data that the
# `casadata` wheel ships. It is exec'd by casaconfig, not imported.
import os
import casadata

measurespath = casadata.datapath
datapath = [casadata.datapath]
measures_auto_update = False
data_auto_update = False
nologger = True
nogui = True
log2term = False
logfile = os.environ.get("WORKFLOW_CASA_LOG", os.path.join(os.environ.get("TMPDIR", "/tmp"), "workflow-casa.log"))
