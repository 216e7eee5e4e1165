"""Read: the Creole stand-in (dictionaries, stored values, typed values, template rendering, build time).

On an Eolebase, Creole itself does this work; here it is done the same way so that the same
dictionary and templates behave alike on any Debian host.
"""
