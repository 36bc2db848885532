"""An example gan_engine plugin: one generator and one content loss, found through entry points."""
