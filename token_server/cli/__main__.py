from . import MODULE_FORM, main

main(prog_name=MODULE_FORM)
