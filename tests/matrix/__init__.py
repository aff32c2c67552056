"""The client-matrix tier: today's npm, pnpm and yarn releases on Node 22 and 24, and the release
tools' current majors, installed from the package's pins (``version=``) on first use."""
