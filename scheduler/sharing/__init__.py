"""Staff sharing: share links, tracked clicks and the rules that decide which clicks count."""
