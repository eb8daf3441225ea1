"""The lab on more than one engine host of this machine (make hosts-up):
machine.py makes the hosts, deploy.py the swarm and stack on them,
resources.py the nemesis's verbs (node loss, drain, link counters)."""
