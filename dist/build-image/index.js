// Written by scripts/build.mjs: every action runs the one bundle in dist/actions.
require('../actions/index.js').run("build-image");
