-- poke.lua arms the wake-up marker, for a blocked claimer that took a
-- wake-up no local waiter wanted any more and hands it on.
-- KEYS: the queue keys of lib.lua.
-- ARGV[1], ARGV[2]: job key prefix, events channel (lib.lua).
-- Returns: 1.
arm_marker()
return 1
