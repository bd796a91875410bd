"""Deploying a hub bundle over ssh (``mvpn deploy``) and reading a hub back (``mvpn status``).

``bundle`` finds and vets a hub bundle in a build, ``remote`` runs commands on the hub over the
system ``ssh``, ``drift`` compares what a hub runs with the build. The installer itself is the
bundle's ``hub/apply.sh`` (templates/hub/apply.sh.j2), which runs on the hub.
"""
