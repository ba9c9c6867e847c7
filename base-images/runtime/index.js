'use strict';
// nodejs14.x's entry, by the name Lambda's has there (/var/runtime/index.js). Images of the
// later runtimes leave this file out: their entry is lib/main.js (see there why).
require('./lib/main.js');
